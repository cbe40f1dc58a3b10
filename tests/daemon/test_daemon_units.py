"""The daemon's pieces without a phone: plan reading, plan + probe -> configuration, the daemon's own
validation of configurations and hints (bad input gets a clear error, never a traceback), the hint
wrapper's detection of the first generated token, and what the phone scripts may import."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from android.daemon import DAEMON_SCRIPT, HINT_SCRIPT
from android.daemon.config import GuardOptions, build_config
from android.daemon.errors import DaemonError
from android.errors import FusegovError
from android.probe import probe_device
from android.virtual import VirtualDevice
from governor.errors import GovernorError
from governor.plan import plan_from_dict
from tests.daemon.plans import plan_document, simple_plan, with_rungs


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fusegovd = _load(DAEMON_SCRIPT, "fusegovd")
fusegov_hint = _load(HINT_SCRIPT, "fusegov_hint")


@pytest.fixture(scope="module")
def pixel7():
    return probe_device(VirtualDevice("pixel7"))


@pytest.fixture(scope="module")
def sm8550():
    return probe_device(VirtualDevice("sm8550"))


@pytest.fixture(scope="module")
def config(pixel7):
    return build_config([plan_from_dict(simple_plan(pixel7))], pixel7)


# --- what runs on the phone -----------------------------------------------------------------------
@pytest.mark.parametrize("script", [DAEMON_SCRIPT, HINT_SCRIPT], ids=lambda p: p.name)
def test_phone_scripts_are_python38_and_stdlib_only(script):
    tree = ast.parse(script.read_text(), feature_version=(3, 8))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_daemon_check_accepts_what_deploy_writes_and_names_a_bad_field(tmp_path, config):
    good = tmp_path / "config.json"
    good.write_text(json.dumps(config))
    out = subprocess.run([sys.executable, str(DAEMON_SCRIPT), "check", str(good)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ok: python 3."), out.stderr
    bad = copy.deepcopy(config)
    bad["plans"]["tinyllama-1.1b-q4"]["decode"]["gpu"] = 123
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = subprocess.run(
        [sys.executable, str(DAEMON_SCRIPT), "check", str(tmp_path / "bad.json")], capture_output=True, text=True
    )
    assert out.returncode == fusegovd.EXIT_CONFIG
    assert "plans.tinyllama-1.1b-q4.decode.gpu: 123 is not in the knob's table" in out.stderr
    assert "Traceback" not in out.stderr


# --- plans and configurations ----------------------------------------------------------------------
def test_config_holds_each_knobs_files_and_native_values(pixel7, sm8550):
    config = build_config([plan_from_dict(simple_plan(pixel7))], pixel7)
    gpu = config["knobs"]["gpu"]
    assert gpu["directory"] == pixel7.gpu.control.directory and gpu["unit"] == "khz"
    assert config["plans"]["tinyllama-1.1b-q4"]["prefill"][-1]["setting"]["gpu"] == 848000  # Mali: kHz
    assert config["plans"]["tinyllama-1.1b-q4"]["decode"] == {"gpu": 510000, "policy6": 1826000}  # mem: stock
    assert set(config["thermal"]["zones"]) == {"BIG", "G3D"}  # the zones of the knobs the plan pins
    snap = build_config([plan_from_dict(simple_plan(sm8550))], sm8550)
    mem = snap["knobs"]["mem"]
    assert mem["unit"] == "mbps" and snap["plans"]["tinyllama-1.1b-q4"]["prefill"][0]["setting"]["mem"] in mem["table"]
    assert snap["knobs"]["gpu"]["unit"] == "hz"  # kgsl devfreq speaks Hz


def test_plan_for_another_phone_is_refused(pixel7, sm8550):
    """governor.plan.check_device decides (one definition of the format); deploy says which plan file."""
    with pytest.raises(DaemonError, match=r"^plan: plan was made for virtual-sm8550 .*fusegov plan --serial"):
        build_config([plan_from_dict(simple_plan(sm8550))], pixel7)
    other_table = simple_plan(pixel7)
    other_table["device"]["knobs"]["gpu"] = other_table["device"]["knobs"]["gpu"][:-1]
    for phase in other_table["phases"]:  # settings within the shortened table: a valid plan, for another phone
        if phase["setting"].get("gpu") not in other_table["device"]["knobs"]["gpu"]:
            phase["setting"]["gpu"] = other_table["device"]["knobs"]["gpu"][-1]
    with pytest.raises(DaemonError, match="knob gpu has other frequencies"):
        build_config([plan_from_dict(other_table)], pixel7)


def test_two_plans_one_per_model(pixel7):
    qwen = simple_plan(pixel7, model="qwen-1.5b-q4")
    config = build_config([plan_from_dict(simple_plan(pixel7)), plan_from_dict(qwen)], pixel7)
    assert sorted(config["plans"]) == ["qwen-1.5b-q4", "tinyllama-1.1b-q4"]
    assert config["default_model"] == "tinyllama-1.1b-q4"
    with pytest.raises(DaemonError, match="two plans for model"):
        build_config([plan_from_dict(qwen), plan_from_dict(qwen)], pixel7)


def decode_setting(plan: dict) -> dict:
    return next(p for p in plan["phases"] if p["phase"] == "decode")["setting"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.update(format="other"), "field format must be 'fusegov.plan'"),
        (lambda p: p.update(version=99), "field version must be one of"),
        (lambda p: p["device"].pop("knobs"), "field device.knobs is missing"),
        (lambda p: p["phases"][0].update(phase="warmup"), r"field phases\[0\].phase must be one of"),
        (lambda p: decode_setting(p).update(gpu=123.5), "123.5 Hz is not in device.knobs.gpu"),
        (lambda p: decode_setting(p).update(gpu=float("nan")), "nan Hz is not in device.knobs.gpu"),
        (lambda p: decode_setting(p).update(gpu=999), "999 Hz is not in device.knobs.gpu"),
        (lambda p: decode_setting(p).update(npu=1), "setting.npu: no such knob"),
        (lambda p: p["phases"].insert(0, p["phases"].pop(1)), "ascending"),
        (lambda p: p.update(phases=[]), "must list at least one phase"),
    ],
)
def test_malformed_plan_is_refused_naming_the_field(pixel7, mutate, message):
    """The governor's reader (governor.plan) is the one that deploy uses."""
    plan = simple_plan(pixel7)
    mutate(plan)
    with pytest.raises(GovernorError, match=message):
        plan_from_dict(plan)


def test_a_plan_that_pins_nothing_is_refused_before_a_push(pixel7):
    stock = plan_document(pixel7, "tinyllama-1.1b-q4", prefill=[(512, {})], decode={})
    with pytest.raises(DaemonError, match="plan pins no knob.*nothing to deploy"):
        build_config([plan_from_dict(stock, "stock.json")], pixel7)


def test_a_model_name_a_hint_cannot_carry_is_refused(pixel7):
    plan = simple_plan(pixel7)
    plan["model"] = "two words"
    with pytest.raises(DaemonError, match="cannot be named in a hint"):
        build_config([plan_from_dict(plan)], pixel7)


def test_deploy_refuses_a_malformed_plan_before_touching_a_phone(tmp_path, capsys):
    from governor.cli import main

    bad = tmp_path / "plan.json"
    bad.write_text('{"format": "fusegov.plan", "version": 1')
    assert main(["deploy", "--serial", "127.0.0.1:1", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fusegov deploy: error: plan ") and "not valid JSON" in err
    assert main(["deploy", "--serial", "127.0.0.1:1", str(tmp_path / "missing.json")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_guard_options_are_checked():
    with pytest.raises(DaemonError, match="--watchdog"):
        GuardOptions(watchdog_s=0).check()
    with pytest.raises(DaemonError, match="--hysteresis 9.0 must be below --thermal-limit 8.0"):
        GuardOptions(limit_c=8.0, hysteresis_c=9.0).check()
    with pytest.raises(DaemonError, match="--thermal-limit"):
        GuardOptions(limit_c=float("inf")).check()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**10) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["device", "model", "phases", "format", "version"]), value=JSON)
def test_any_plan_field_value_gives_a_plan_or_a_clear_error(pixel7, field, value):
    plan = simple_plan(pixel7)
    plan[field] = value
    try:
        plan_from_dict(plan)
    except GovernorError as exc:
        assert str(exc)


@settings(max_examples=80, deadline=None)
@given(
    field=st.sampled_from(
        ["knobs", "plans", "default_model", "thermal", "heat", "watchdog_s", "log_max_bytes", "version"]
    ),
    value=JSON,
)
def test_any_config_field_value_gives_a_config_or_a_clear_error(config, field, value):
    data = copy.deepcopy(config)
    data[field] = value
    try:
        fusegovd.parse_config(data)
    except fusegovd.ConfigError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def stepped(pixel7):
    """A configuration whose plan has two cooler decode rungs and one per prefill bucket."""
    return build_config([plan_from_dict(with_rungs(simple_plan(pixel7), pixel7, (400, 302), 471))], pixel7)


def test_cooler_rungs_and_the_probed_trips_reach_the_daemon(stepped, config):
    assert "heat" in config and config["heat"]["trips"] == []  # no rungs: nothing to step
    trips = {t["zone"]: t for t in stepped["heat"]["trips"]}
    assert trips["neutral_therm"]["temp_c"] == 48.0 and trips["neutral_therm"]["hysteresis_c"] == 2.0
    assert trips["neutral_therm"]["temp_file"].endswith("/temp")
    parsed = fusegovd.parse_config(stepped)
    plan = parsed.plans["tinyllama-1.1b-q4"]
    assert plan.levels == 2
    own, first, second = (plan.setting("decode", 0, level) for level in range(3))
    assert (first[0], first[1]["gpu"], second[0], second[1]["gpu"]) == (
        "decode cooler 1",
        400000,
        "decode cooler 2",
        302000,
    )
    assert own[0] == "decode" and plan.setting("decode", 0, 7) == second  # beyond its rungs: the coolest
    assert plan.setting("prefill", 600, 2) == (
        "prefill<=512 (longest bucket) cooler 1",
        {**plan.setting("prefill", 600)[1], "gpu": 471000},
    )
    assert plan.setting("cnn", 0, 2) == plan.setting("cnn", 0)  # no rungs: its own setting at every level
    assert [t.zone for t in parsed.trips] == [t["zone"] for t in stepped["heat"]["trips"]]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c, p: p["cooler"].update(decode=[{"gpu": 7}]),
            r"cooler\.decode\[0\]\.gpu: 7 is not in the knob's table",
        ),
        (lambda c, p: p["cooler"].update(prefill=[[]]), r"cooler\.prefill: one list of rungs per prefill bucket \(2\)"),
        (lambda c, p: p["cooler"].update(decode={}), r"cooler\.decode: a list of settings"),
        (lambda c, p: p["cooler"].update(npu=[]), r"cooler: an object with prefill, decode and cnn rungs"),
        (lambda c, p: c["heat"]["trips"][0].update(temp_c=-3), r"heat\.trips\[0\]\.temp_c: must be a positive"),
        (
            lambda c, p: c["heat"]["trips"][0].update(temp_file="temp"),
            r"heat\.trips\[0\]\.temp_file: not an absolute path",
        ),
        (
            lambda c, p: c["heat"]["trips"][0].update(hysteresis_c=True),
            r"heat\.trips\[0\]\.hysteresis_c: must be a number",
        ),
        (lambda c, p: c["heat"].update(trips={}), r"heat\.trips: a list of trips"),
    ],
)
def test_malformed_rungs_and_trips_are_refused_naming_the_field(stepped, mutate, message):
    data = copy.deepcopy(stepped)
    mutate(data, data["plans"]["tinyllama-1.1b-q4"])
    with pytest.raises(fusegovd.ConfigError, match=message):
        fusegovd.parse_config(data)


def test_a_version_1_configuration_without_heat_still_loads(config):
    older = {k: v for k, v in copy.deepcopy(config).items() if k != "heat"}
    parsed = fusegovd.parse_config({**older, "version": 1})
    assert parsed.trips == [] and parsed.plans["tinyllama-1.1b-q4"].levels == 0


# --- hints -------------------------------------------------------------------------------------------
def test_hints_parse_and_choose_the_plan_bucket(config):
    parsed = fusegovd.parse_config(config)
    assert fusegovd.parse_hint("prefill 100", parsed) == ("prefill", 100, "tinyllama-1.1b-q4")
    assert fusegovd.parse_hint("decode model=tinyllama-1.1b-q4", parsed) == ("decode", 0, "tinyllama-1.1b-q4")
    assert fusegovd.parse_hint(" idle ", parsed)[0] == "idle"
    plan = parsed.plans["tinyllama-1.1b-q4"]
    assert plan.setting("prefill", 128)[0] == "prefill<=128"
    assert plan.setting("prefill", 129)[0] == "prefill<=512"
    assert plan.setting("prefill", 4000)[0] == "prefill<=512 (longest bucket)"  # the plan's rule
    assert plan.setting("cnn", 0) == ("cnn", {"gpu": 572000})  # the Mali OPP nearest 600 MHz
    only_bounded = copy.deepcopy(config)
    only_bounded["plans"]["tinyllama-1.1b-q4"]["prefill"] = only_bounded["plans"]["tinyllama-1.1b-q4"]["prefill"][:1]
    label, _ = fusegovd.parse_config(only_bounded).plans["tinyllama-1.1b-q4"].setting("prefill", 4000)
    assert label == "prefill<=128 (longest bucket)"


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "empty hint"),
        ("warp 9", "unknown phase 'warp'"),
        ("prefill", "prefill needs the prompt length"),
        ("prefill 0", "prefill needs the prompt length"),
        ("prefill x12", "prefill needs the prompt length"),
        ("decode 12", "unexpected '12'"),
        ("decode model=gpt-9", "no plan for model 'gpt-9'"),
        ("idle model=tinyllama-1.1b-q4", "idle takes no model"),
    ],
)
def test_malformed_hints_are_rejected(config, line, message):
    with pytest.raises(fusegovd.HintError, match=message):
        fusegovd.parse_hint(line, fusegovd.parse_config(config))


@settings(max_examples=150, deadline=None)
@given(line=st.text(max_size=60))
def test_any_hint_line_parses_or_is_rejected_clearly(config, line):
    parsed = fusegovd.parse_config(config)
    try:
        phase, tokens, model = fusegovd.parse_hint(line, parsed)
    except fusegovd.HintError as exc:
        assert str(exc)
    else:
        assert phase in fusegovd.PHASES and model in parsed.plans and tokens >= 0


# --- knob writes on a phone without os.file_batch (a real phone: each file call is its own syscall) -------
def test_knobs_one_call_at_a_time_keep_the_safe_order_and_carry_on_past_a_failing_knob(tmp_path, monkeypatch):
    assert fusegovd.FILE_BATCH is None  # the host's Python, as a real phone's
    knobs = {}
    for name in ("raise", "lower", "vanish"):
        (tmp_path / name).mkdir()
        for file, value in (("min", 300000), ("max", 900000), ("governor", "schedutil")):
            (tmp_path / name / file).write_text(f"{value}\n")
        knobs[name] = fusegovd.Knob(name, *(str(tmp_path / name / f) for f in ("min", "max", "governor")), "khz")
    logged = []
    controller = fusegovd.Knobs(knobs, logged.append)
    found = controller.snapshot(sorted(knobs))
    (tmp_path / "vanish" / "max").unlink()  # the knob goes away after the daemon found it
    written = []
    real_write = fusegovd.SysfsFile.write
    monkeypatch.setattr(fusegovd.SysfsFile, "write", lambda f, data: written.append(f.path) or real_write(f, data))
    problems = controller.set_many([("raise", 950000, 950000), ("lower", 100000, 100000), ("vanish", 500000, 500000)])
    assert problems["raise"] is None and problems["lower"] is None
    assert "no such file (knob vanished?)" in problems["vanish"]
    assert [p.split("/")[-2:] for p in written[:4]] == [
        ["raise", "max"],
        ["raise", "min"],
        ["lower", "min"],
        ["lower", "max"],
    ]
    assert [(tmp_path / "raise" / f).read_text() for f in ("min", "max")] == ["950000\n"] * 2
    assert [(tmp_path / "lower" / f).read_text() for f in ("min", "max")] == ["100000\n"] * 2
    assert controller.restore_one("raise", found["raise"]) is None
    assert [(tmp_path / "raise" / f).read_text() for f in ("min", "max")] == ["300000\n", "900000\n"]


# --- the wrapper ---------------------------------------------------------------------------------------
def test_first_token_skips_the_prompt_echo():
    detector = fusegov_hint.FirstToken("Tell me  a story", echoed=True)
    assert not detector.feed(b" Tell me a")
    assert not detector.feed(b" story\n")
    assert detector.feed(b" Once")
    no_echo = fusegov_hint.FirstToken("Tell me a story", echoed=False)
    assert no_echo.feed(b"Once")
    differs = fusegov_hint.FirstToken("Tell me a story", echoed=True)
    assert differs.feed(b"<s> Tell")  # not the prompt: taken as generated output


def test_wrapper_reads_llama_cpp_options_and_formats_hints():
    argv = ["llama-cli", "-m", "a.gguf", "-p", "first", "--prompt=second", "-n", "64"]
    assert fusegov_hint.option_value(argv, fusegov_hint.PROMPT_FLAGS) == "second"
    assert fusegov_hint.hint_line("prefill", 232, "tinyllama-1.1b-q4") == "prefill 232 model=tinyllama-1.1b-q4"
    assert fusegov_hint.hint_line("idle") == "idle"


def test_hint_without_daemon_says_so(tmp_path):
    out = subprocess.run(
        [sys.executable, str(HINT_SCRIPT), "send", "--dir", str(tmp_path), "decode"], capture_output=True, text=True
    )
    assert out.returncode == 1 and "no fusegovd listening" in out.stderr


def test_daemon_errors_are_fusegov_errors():
    assert issubclass(DaemonError, FusegovError) and issubclass(GovernorError, FusegovError)
    with pytest.raises(GovernorError, match="must be a JSON object"):
        plan_from_dict([], "x")
