"""Reading tables as users have them: each column's kind, empty cells, named classes, and a clear
error naming the row and column of anything that cannot be read."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.dataset_files import DatasetError, UploadLimits, parse_upload
from tests.tables import messy_csv


def kinds(data: bytes, **options: object) -> dict[str, tuple[str, str | None]]:
    parsed = parse_upload(data, "t.csv", UploadLimits(), **options)  # type: ignore[arg-type]
    assert parsed.table is not None
    return {str(c["name"]): (str(c["kind"]), c.get("input")) for c in parsed.table}  # type: ignore[misc]


def test_each_column_gets_its_kind_and_the_input_pandas_would_give() -> None:
    found = kinds(messy_csv(), target="grade")
    assert found == {
        "row_id": ("ignore", None),  # numbers the rows: an id
        "income": ("numeric", "float32"),
        "city": ("categorical", "string"),
        "member": ("boolean", "string"),  # yes/no: pandas keeps the strings
        "verified": ("boolean", "float32"),  # true/false: pandas reads booleans
        "rooms": ("categorical", "float32"),  # few whole numbers: integer codes
        "note": ("text", "string"),
    }


def test_named_classes_are_listed_in_label_order_and_empty_cells_are_nan() -> None:
    parsed = parse_upload(messy_csv(), "t.csv", UploadLimits(), target="grade")
    assert parsed.classes == ["high", "low", "mid"]
    assert parsed.task == "classification"
    x = np.concatenate([parsed.arrays["x_train"], parsed.arrays["x_test"]])
    assert np.isnan(x).any() and not np.isinf(x).any()
    strings = np.concatenate([parsed.arrays["s_train"], parsed.arrays["s_test"]])
    assert "" in strings[:, 0]  # an empty city
    # the test part is cut from every stored array alike
    assert (
        len(parsed.arrays["s_test"]) == len(parsed.arrays["x_test"]) == len(parsed.arrays["y_test"])
    )


def test_unique_strings_are_an_id_but_long_unique_text_is_text() -> None:
    rows = "\n".join(
        f"user{i},a long sentence number {i} about the weather,{i % 2}" for i in range(40)
    )
    found = kinds(f"user,review,target\n{rows}\n".encode())
    assert found == {"user": ("ignore", None), "review": ("text", "string")}


def test_column_types_override_the_inference() -> None:
    found = kinds(
        messy_csv(),
        target="grade",
        column_types={"row_id": "numeric", "rooms": "numeric", "note": "ignore"},
    )
    assert found["row_id"] == ("numeric", "float32")
    assert found["rooms"] == ("numeric", "float32")
    assert found["note"] == ("ignore", None)


def test_a_table_of_complete_numbers_stays_a_matrix() -> None:
    rows = "\n".join(f"{i % 7},{i * 0.5},{i % 2}" for i in range(40))
    parsed = parse_upload(f"a,b,target\n{rows}\n".encode(), "t.csv", UploadLimits())
    assert parsed.table is None and "s_train" not in parsed.arrays


@pytest.mark.parametrize(
    ("csv", "options", "field", "words"),
    [
        (b"a,target\n1,0\n2,1\nthree,0\n", {"column_types": {"a": "numeric"}}, "a", "Row 4"),
        (b"a,target\nyes,0\nno,1\nmaybe,0\n", {"column_types": {"a": "boolean"}}, "a", "Row 4"),
        (b"a,target\n1,x\n2,\n", {}, "target", "Row 3"),
        (b"a,target\n1,0\n2,x\n", {"task": "regression"}, "target", "Row 3"),
        (b"a,target\n1,0\n2\n", {}, "file", "Row 3"),
        (b"a,target\n1e39,0\n2,1\n", {"column_types": {"a": "numeric"}}, "a", "Row 2"),
        (b"a,target\n1,0\n2,inf\n", {"task": "regression"}, "target", "Row 3"),
        (b"a,target\n1,0\n-Infinity,1\n", {}, "a", "Row 3"),
        (b"a,b,target\n1,x,0\n1e999,y,1\n", {}, "a", "Row 3"),
    ],
)
def test_a_cell_that_cannot_be_read_names_its_row_and_column(
    csv: bytes, options: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(DatasetError) as raised:
        parse_upload(csv, "t.csv", UploadLimits(), **options)  # type: ignore[arg-type]
    assert field in raised.value.fields, raised.value.fields
    assert words in " ".join(raised.value.fields[field])


def test_the_same_table_with_other_column_types_is_another_dataset() -> None:
    plain = parse_upload(messy_csv(), "t.csv", UploadLimits(), target="grade")
    typed = parse_upload(
        messy_csv(), "t.csv", UploadLimits(), target="grade", column_types={"note": "ignore"}
    )
    assert plain.content_id("t") != typed.content_id("t")


def test_cells_are_read_as_pandas_reads_them() -> None:
    """What training sees of a cell is what a user's pandas rows give the exported model:
    pandas' own missing-value spellings (case matters), spaces kept, no digit separators."""
    rows = "\n".join(
        f"{c},{n},{t},{i % 2}"
        for i, (c, n, t) in enumerate(
            [(" red", "1_000", "True"), ("red", "2", "FALSE"), ("none", "3", "true"),
             ("NA", "4", "")] * 10
        )
    )  # fmt: skip
    parsed = parse_upload(f"colour,amount,flag,target\n{rows}\n".encode(), "t.csv", UploadLimits())
    kinds = {str(c["name"]): (c["kind"], c.get("input")) for c in parsed.table or ()}
    assert kinds == {
        "colour": ("categorical", "string"),
        "amount": ("categorical", "string"),  # 1_000 is text to pandas
        "flag": ("boolean", "float32"),  # pandas reads True/FALSE/true as booleans
    }
    colours = set(np.concatenate([parsed.arrays["s_train"][:, 0], parsed.arrays["s_test"][:, 0]]))
    assert colours == {" red", "red", "none", ""}  # NA is empty; none is a value

    declared = parse_upload(
        f"colour,amount,flag,target\n{rows}\n".encode(), "t.csv", UploadLimits(),
        column_types={"flag": "categorical"},
    )  # fmt: skip
    flag = next(c for c in declared.table or () if c["name"] == "flag")
    assert flag["input"] == "float32"  # pandas gives booleans: taken as 1/0


def test_a_table_too_large_to_hold_is_refused_before_it_is_built() -> None:
    rows = "\n".join(f"{'w' * (900 if i == 0 else 2)},x{i % 3},{i % 2}" for i in range(400))
    data = f"a,b,target\n{rows}\n".encode()
    with pytest.raises(DatasetError) as raised:
        parse_upload(data, "t.csv", UploadLimits(max_decoded_bytes=1_000_000))
    assert "would take" in raised.value.fields["file"][0]
    with pytest.raises(DatasetError) as raised:
        parse_upload(data, "t.csv", UploadLimits(max_decoded_bytes=3_200))  # 100 cells
    assert "cells" in raised.value.fields["file"][0]


def test_a_class_that_lands_only_in_the_test_part_is_refused() -> None:
    rows = "\n".join(f"{i},{i % 2}" for i in range(40)) + "\n99,x"
    with pytest.raises(DatasetError) as raised:
        parse_upload(f"a,target\n{rows}\n".encode(), "t.csv", UploadLimits())
    assert "fewer than 5" in raised.value.fields["y_train"][0]
