"""The dashboard as a person meets it: a real Chromium on a real stack (redis-server, celery
workers, the API over HTTP). Each step asserts on what the page shows."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from service.core import keys
from service.core.apikeys import presented_digest
from tests.browser.conftest import Stack, screenshot_dir
from tests.helpers import VALID_SPEC, synthetic_spec


def watched_spec(trials: int, sleep_s: float, name: str) -> dict[str, Any]:
    spec = synthetic_spec(trials, sleep_s, epochs=4)
    spec["name"] = name
    spec["search"]["parallelism"] = 2
    return spec


def sign_in(page: Any, stack: Stack, audit: bool = False) -> None:
    page.goto(stack.url + "/ui")
    expect(page.get_by_role("heading", name="Sign in with an API key")).to_be_visible()
    if audit:
        no_serious_violations(page)
    page.get_by_label("API key").fill("tq_not-a-key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or was revoked")
    page.get_by_label("API key").fill(stack.key)
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def no_serious_violations(page: Any) -> None:
    """axe-core's audit: no serious or critical accessibility violation on the page."""
    results = Axe().run(page)
    found = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not found, found


def submit_from_editor(page: Any, spec: dict[str, Any]) -> None:
    editor = page.get_by_label("Job spec")
    if not page.url.endswith("#/submit"):
        page.get_by_role("link", name="Submit", exact=True).click()
        expect(editor).to_have_value(re.compile('"name": "digits-demo"'))  # prefilled
    editor.fill(json.dumps(spec, indent=2))
    page.get_by_role("button", name="Validate and submit").click()


def test_watch_sort_cancel_and_refuse_in_a_real_browser(page: Any, stack: Stack, tmp_path) -> None:
    sign_in(page, stack, audit=True)
    expect(page.get_by_text("No jobs yet")).to_be_visible()

    # A bad spec: each 422 field error sits on the line of its field.
    bad = watched_spec(20, 0.4, "bad")
    bad["search"]["max_trials"] = 0
    bad["search_space"]["units"]["low"] = "many"
    submit_from_editor(page, bad)
    trials_error = page.locator('.field-error[data-field="search.max_trials"]')
    expect(trials_error).to_be_visible()
    expect(trials_error).to_contain_text("search.max_trials")
    expect(page.locator("li.has-error", has=trials_error)).to_contain_text('"max_trials": 0')
    units_error = page.locator('.field-error[data-field="search_space.units.low"]')
    expect(page.locator("li.has-error", has=units_error)).to_contain_text('"low": "many"')
    no_serious_violations(page)

    # The draft stays while the user looks elsewhere.
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="Submit", exact=True).click()
    expect(page.get_by_label("Job spec")).to_have_value(re.compile('"max_trials": 0'))

    # Text that does not parse: the parser's message on its line.
    broken = json.dumps(bad, indent=2).replace('"max_trials": 0', '"max_trials": 0,,')
    page.get_by_label("Job spec").fill(broken)
    page.get_by_role("button", name="Validate and submit").click()
    expect(page.locator('.field-error[data-field="syntax"]')).to_contain_text("not valid JSON")
    page.get_by_label("Job spec").fill(json.dumps(bad, indent=2))
    page.get_by_role("button", name="Validate and submit").click()
    expect(trials_error).to_be_visible()

    # The same in YAML: the edited spec is rewritten, its errors found on its YAML lines.
    page.get_by_label("YAML").check()
    editor = page.get_by_label("Job spec")
    expect(editor).to_have_value(re.compile(r"^  max_trials: 0$", re.M))
    page.get_by_role("button", name="Validate and submit").click()
    expect(page.locator("li.has-error", has=trials_error)).to_contain_text("max_trials: 0")
    expect(page.locator("li.has-error", has=units_error)).to_contain_text('low: "many"')

    # A layer's argument, by its index: on that layer's line, not the model's.
    page.once("dialog", lambda dialog: dialog.accept())  # "replace your edits?"
    page.get_by_label("Start from").select_option("digits-declared")
    page.once("dialog", lambda dialog: dialog.accept())  # back to JSON: start again
    page.get_by_label("JSON").check()
    declared = json.loads(editor.input_value())
    declared["model"]["layers"][3]["rate"] = 5
    editor.fill(json.dumps(declared, indent=2))
    page.get_by_role("button", name="Validate and submit").click()
    rate_error = page.locator('.field-error[data-field="model.layers[3].rate"]')
    expect(page.locator("li.has-error", has=rate_error)).to_contain_text('"rate": 5')

    # A good one opens its page, which follows the job live: no reload.
    submit_from_editor(page, watched_spec(20, 0.8, "watched"))
    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name="watched")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    progress = page.locator("#progress-text")
    expect(progress).to_have_text(re.compile(r"^[1-9]\d* of 20 trials finished$"))
    expect(progress).to_have_text(re.compile(r"^1[0-9] of 20 trials finished$"), timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator('svg[data-chart="curves"] path.curve').first).to_be_attached()
    expect(progress).to_have_text("20 of 20 trials finished", timeout=60_000)
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=30_000)

    # The charts are drawn from the trials.
    expect(page.locator('svg[data-chart="history"] circle.trial')).to_have_count(20)
    expect(page.locator('svg[data-chart="curves"] path.curve')).to_have_count(20)
    expect(page.locator('svg[data-chart="parallel"] path.line')).to_have_count(20)
    axes = page.locator('svg[data-chart="parallel"] g[data-axis]')
    expect(axes).to_have_count(3)  # learning_rate, units, the objective
    expect(page.locator('svg[data-chart="parallel"] g[data-axis="units"]')).to_contain_text("200")
    expect(page.locator('svg[data-chart="importance"] rect.bar')).to_have_count(2, timeout=30_000)
    expect(page.locator("#best-configuration")).to_contain_text("learning_rate")

    # The trial table sorts on a column, by keyboard too, and filters.
    value_header = page.locator('#trials th[data-key="value"]')
    value_header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(value_header).to_have_attribute("aria-sort", "ascending")
    cells = page.locator('#trials tbody td[data-key="value"]')
    shown = [float(text) for text in cells.all_inner_texts()]
    assert shown == sorted(shown) and len(shown) == 20
    page.keyboard.press("Enter")
    expect(value_header).to_have_attribute("aria-sort", "descending")
    shown = [float(text) for text in cells.all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    page.get_by_label("Filter Trial").fill("1")
    expect(page.locator("#trials tbody tr")).to_have_count(11)  # 1, 10-19
    no_serious_violations(page)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-job.png"), full_page=True)

    # The report opens in a new tab.
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Open report").click()
    report = opened.value
    expect(report.locator("h1")).to_contain_text("watched")
    # its own style block is allowed by the policy's hash, nothing else inline
    assert "system-ui" in report.evaluate("getComputedStyle(document.body).fontFamily")
    report.close()

    # Cancel a second job from its page.
    long_job = stack.call("POST", "/v1/jobs", watched_spec(40, 6.0, "long-one"))["id"]
    page.goto(f"{stack.url}/ui#/jobs/{long_job}")
    expect(page.get_by_role("heading", name="long-one")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status")).to_have_text(re.compile("stopping|cancelled"))
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=30_000)
    # its trials stop at their next epoch, after the job's stream has ended: the page sees it
    states = page.locator('#trials tbody td[data-key="state"]')
    expect(states.filter(has_text="cancelled").first).to_be_visible(timeout=30_000)
    expect(states.filter(has_text="running")).to_have_count(0, timeout=30_000)

    # The list shows both, live; keyboard alone reaches every control.
    page.get_by_role("link", name="Jobs", exact=True).click()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(f'#jobs tr[data-job="{job_id}"]')).to_contain_text("20 / 20")
    expect(page.locator(f'#jobs tr[data-job="{long_job}"]')).to_contain_text("cancelled")
    page.get_by_label("Status").select_option("cancelled")
    expect(rows).to_have_count(1)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Name").fill("watch")
    expect(rows).to_have_count(1)
    page.get_by_label("Name").fill("")
    no_serious_violations(page)
    page.screenshot(
        path=str(screenshot_dir(tmp_path) / "dashboard-jobs.png"),
        clip={"x": 0, "y": 0, "width": 1200, "height": 330},
    )
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
        if focused[-1] == "Submit":
            break
    assert focused[-1] == "Submit", focused
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Submit a job")).to_be_visible()

    # Another tenant's job is refused as if it did not exist.
    theirs = stack.call("POST", "/v1/jobs", watched_spec(2, 0.1, "theirs"), key=stack.rival_key)
    page.goto(f"{stack.url}/ui#/jobs/{theirs['id']}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("theirs")).to_have_count(0)
    no_serious_violations(page)


def test_datasets_and_compare_in_a_real_browser(page: Any, stack: Stack, tmp_path) -> None:
    sign_in(page, stack)

    page.get_by_role("link", name="Datasets", exact=True).click()
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    table = tmp_path / "flowers.csv"
    rows = ["size,colour,kind"] + [
        f"{i % 7 + 0.5},{'red' if i % 2 else 'blue'},{'rose' if i % 3 else 'tulip'}"
        for i in range(60)
    ]
    table.write_text("\n".join(rows) + "\n")
    page.get_by_label("File").set_input_files(str(table))
    page.get_by_label("Target column").fill("species")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-target-error")).to_contain_text("species")
    page.get_by_label("Target column").fill("kind")
    page.get_by_label("Name", exact=True).fill("flowers")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Uploaded flowers")).to_be_visible()
    expect(page.locator("#datasets tbody tr")).to_have_count(1)
    expect(page.locator("#datasets tbody tr")).to_contain_text("rose, tulip")
    no_serious_violations(page)

    # A job on it starts from the demo's search, on that dataset.
    page.get_by_role("link", name="New job on flowers").click()
    editor = page.get_by_label("Job spec")
    expect(editor).to_have_value(re.compile('"name": "flowers-search"'))
    draft = json.loads(editor.input_value())
    dataset_id = page.url.rsplit("=", 1)[1]
    assert draft["dataset"] == {"id": dataset_id} and len(dataset_id) == 64
    assert draft["training"]["objective"] == {"metric": "val_accuracy", "direction": "max"}
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete flowers").click()
    expect(page.get_by_text("No datasets yet.")).to_be_visible()

    # Two finished jobs side by side.
    ids = []
    for name, seed in (("before", 1), ("after", 2)):
        spec = watched_spec(6, 0.1, name)
        spec["search"]["seed"] = seed
        ids.append(stack.call("POST", "/v1/jobs", spec)["id"])
    deadline = time.monotonic() + 60
    while not all(stack.call("GET", f"/v1/jobs/{i}")["status"] == "succeeded" for i in ids):
        assert time.monotonic() < deadline, "the jobs did not finish"
        time.sleep(0.3)
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("Select before to compare").check()
    page.get_by_label("Select after to compare").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.get_by_role("heading", name="Compare 2 jobs")).to_be_visible()
    expect(page.locator('svg[data-chart="compare"] path.series')).to_have_count(2)
    header = page.locator("#compare-table thead")
    expect(header).to_contain_text("before")
    expect(header).to_contain_text("after")
    expect(page.locator("#compare-table tbody")).to_contain_text("learning_rate")
    no_serious_violations(page)


def test_a_page_refused_a_stream_long_polls_and_stays_live(
    browser: Any, one_stream_stack: Stack, redis_client: Any
) -> None:
    stack = one_stream_stack
    endless = watched_spec(200, 2.0, "first")
    endless["search"]["parallelism"] = 1  # the other worker slot runs the later jobs
    first = stack.call("POST", "/v1/jobs", endless)["id"]
    second = stack.call("POST", "/v1/jobs", watched_spec(8, 0.8, "second"))["id"]
    context = browser.new_context()
    context.add_init_script(  # every document, the first about:blank too (no storage)
        f"try {{ sessionStorage.setItem('tuneq.api-key', {stack.key!r}); }} catch {{}}"
    )
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        holder = context.new_page()
        holder.goto(f"{stack.url}/ui#/jobs/{first}")  # holds the key's one stream
        expect(holder.get_by_role("heading", name="first")).to_be_visible()
        streams = keys.streams(f"key:{presented_digest(stack.key)}")
        deadline = time.monotonic() + 20
        while not redis_client.zcard(streams):  # the holder's stream has reached the server
            assert time.monotonic() < deadline, "the first page never opened its stream"
            time.sleep(0.05)
        refused: list[int] = []
        late = context.new_page()
        late.on(
            "response",
            lambda r: refused.append(r.status) if r.url.endswith("/events") else None,
        )
        late.goto(f"{stack.url}/ui#/jobs/{second}")
        expect(late.get_by_role("heading", name="second")).to_be_visible()
        late.evaluate("window.__sameDocument = true")
        expect(late.locator("#job-status")).to_have_text("succeeded", timeout=60_000)
        expect(late.locator("#progress-text")).to_have_text("8 of 8 trials finished")
        expect(late.locator('svg[data-chart="history"] circle.trial')).to_have_count(8)
        assert late.evaluate("window.__sameDocument") is True
        assert refused and set(refused) == {429}, refused

        # A tab that is hidden lets its stream go: the key's one stream is free again.
        hide = (
            "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
        holder.evaluate(hide)
        deadline = time.monotonic() + 20
        while redis_client.zcard(streams):  # the server lets it go at its next write
            assert time.monotonic() < deadline, "the hidden tab's stream was never closed"
            time.sleep(0.1)
        third = stack.call("POST", "/v1/jobs", watched_spec(4, 0.5, "third"))["id"]
        with late.expect_response(lambda r: r.url.endswith(f"{third}/events")) as opened:
            late.goto(f"{stack.url}/ui#/jobs/{third}")
        assert opened.value.status == 200
        expect(late.locator("#job-status")).to_have_text("succeeded", timeout=60_000)

        # Shown again, the hidden tab catches up with what it missed, and follows on.
        behind = stack.call("GET", f"/v1/jobs/{first}")["progress"]["trials_finished"]
        holder.evaluate(hide.replace("value: true", "value: false"))
        shown = "n => parseInt(document.getElementById('progress-text').textContent) >= n"
        holder.wait_for_function(shown, arg=behind)
        holder.wait_for_function(shown, arg=behind + 2, timeout=30_000)
    finally:
        context.close()
        stack.call("POST", f"/v1/jobs/{first}/cancel", {"refit": False})
    assert not errors, errors


def test_without_authentication_no_key_is_asked(page: Any, open_stack: Stack) -> None:
    stack = open_stack
    job = stack.call("POST", "/v1/jobs", watched_spec(3, 0.1, "on-a-laptop"))["id"]
    page.goto(stack.url + "/ui")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.get_by_label("API key")).to_have_count(0)
    page.get_by_role("link", name="on-a-laptop").click()
    expect(page).to_have_url(re.compile(f"#/jobs/{job}$"))
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=30_000)


def test_a_keras_jobs_diagnosis_and_model_in_a_real_browser(
    page: Any, stack: Stack, tmp_path
) -> None:
    """A real (tiny) Keras search: its page shows the diagnosis with advice, and the model
    downloads."""
    spec = {**VALID_SPEC, "name": "iris-real"}
    spec["search"] = {**spec["search"], "max_trials": 2, "initial_points": 2}
    job_id = stack.call("POST", "/v1/jobs", spec)["id"]
    sign_in(page, stack)
    page.get_by_role("link", name="iris-real").click()
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=180_000)
    diagnosis = page.locator("#diagnosis")
    expect(diagnosis).to_contain_text("Diagnosis:")
    expect(diagnosis.locator("ul.advice li").first).to_be_visible()
    expect(page.locator("#best-metrics")).to_contain_text("test_accuracy")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download model").click()
    saved = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(saved)
    assert saved.name.startswith("iris-real-") and saved.suffix == ".keras"
    assert saved.read_bytes()[:2] == b"PK"  # a .keras file is a zip
    assert job_id in page.url
