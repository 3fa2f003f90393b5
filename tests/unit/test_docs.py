"""The README documents what the code does: every hyperparameter (settings: test_deploy)."""

from __future__ import annotations

from pathlib import Path

from service.core.vocabulary_table import markdown_table

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_readme_hyperparameter_table_is_the_vocabulary() -> None:
    assert markdown_table() in README, (
        "regenerate the table: service.core.vocabulary_table.markdown_table()"
    )
