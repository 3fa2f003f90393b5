"""The README documents what the code does: every hyperparameter and every setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from service.core.settings import Settings
from service.core.vocabulary import markdown_table

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_readme_hyperparameter_table_is_the_vocabulary() -> None:
    assert markdown_table() in README, (
        "regenerate the table: service.core.vocabulary.markdown_table()"
    )


def test_every_setting_is_in_the_readme() -> None:
    for field in dataclasses.fields(Settings):
        assert f"`TUNEQ_{field.name.upper()}`" in README, field.name
