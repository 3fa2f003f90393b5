"""Where each value of the best configuration came from, as the CLI summary and the report
say it: a per-layer width that fell back to a searched ``units`` is searched, not a default."""

from __future__ import annotations

from service.core.vocabulary import configuration, origin
from service.progress import summary


def test_a_width_that_falls_back_to_a_searched_units_says_so() -> None:
    params, fixed = {"units": 48, "learning_rate": 0.01}, {"n_layers": 2}
    config = configuration(fixed, params)
    assert origin("units_1", params, fixed) == "searched, as units"
    assert origin("units", params, fixed) == "searched"
    assert origin("n_layers", params, fixed) == "fixed"
    assert origin("activation", params, fixed) == "default"
    assert origin("filters_1", {}, {"filters": 8}) == "fixed, as filters"
    job = {
        "id": "j", "status": "succeeded", "objective": {"metric": "val_accuracy",
                                                        "direction": "max"},
        "progress": {"trials_total": 5}, "spec": {"fixed": fixed},
        "best": {"trial": 0, "epochs": 3, "metrics": {"val_accuracy": 0.9}, "params": params,
                 "configuration": config},
    }  # fmt: skip
    lines = summary(job).splitlines()
    assert any(line.split() == ["units_1", "48", "(searched,", "as", "units)"] for line in lines)
    assert any(line.split() == ["n_layers", "2", "(fixed)"] for line in lines)
