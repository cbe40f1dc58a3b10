import json

import pytest

from android.emulator.profile import BUILTIN_DIR, builtin_profiles, load_profile
from android.errors import ProfileError


def test_builtin_profiles_load_with_their_tables():
    assert {"pixel7", "sm8550", "pixel4"} <= set(builtin_profiles())
    pixel7 = load_profile("pixel7")
    assert [c.policy for c in pixel7.clusters] == ["policy0", "policy4", "policy6"]
    big_mhz = [o.freq_hz // 1_000_000 for o in pixel7.clusters[2].opps]
    assert big_mhz == [
        500,
        851,
        984,
        1106,
        1277,
        1426,
        1582,
        1745,
        1826,
        2048,
        2188,
        2252,
        2401,
        2507,
        2630,
        2704,
        2802,
        2850,
    ]  # FUSE's 18 CPU levels
    assert [o.freq_hz // 1_000_000 for o in pixel7.gpu.opps] == [
        151,
        202,
        251,
        302,
        351,
        400,
        471,
        510,
        572,
        701,
        762,
        848,
    ]
    mif = next(d for d in pixel7.devfreq if d.knob == "mem")
    assert len(mif.opps) == 13 and mif.opps[-1].freq_hz == 3_172_000_000
    assert pixel7.clusters[2].dynamic_power_coefficient == 650  # gs101 device tree
    assert load_profile("sm8550").gpu.driver == "kgsl"
    assert load_profile("pixel4").gpu.model == "Adreno 640"


def _raw(name="pixel7"):
    return json.loads((BUILTIN_DIR / f"{name}.json").read_text())


def test_profile_loads_from_any_path(tmp_path):
    raw = _raw()
    raw["name"] = "my-phone"
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(raw))
    assert load_profile(str(path)).name == "my-phone"


def test_unknown_profile_name_lists_the_builtins():
    with pytest.raises(ProfileError, match=r"unknown profile 'pixel99'.*pixel7"):
        load_profile("pixel99")


def test_missing_profile_file_is_named(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(str(tmp_path / "absent.json"))


def test_invalid_json_is_reported(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(str(path))


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda r: r["gpu"].pop("opp"), "gpu.opp"),
        (lambda r: r["cpu"]["clusters"][1].__setitem__("capacity", "big"), r"cpu.clusters\[1\].capacity"),
        (lambda r: r["gpu"].__setitem__("driver", "powervr"), "gpu.driver"),
        (lambda r: r["gpu"]["opp"].__setitem__(3, [100, 500000]), r"gpu.opp\[3\] is not monotonic"),
        (lambda r: r["cpu"]["clusters"][0]["opp"].__setitem__(2, [738000000]), r"cpu.clusters\[0\].opp\[2\]"),
        (lambda r: r["memory"]["devfreq"][0].__setitem__("knob", "bus"), "memory.devfreq"),
        (lambda r: r["props"].pop("ro.product.model"), "props.ro.product.model"),
    ],
)
def test_malformed_profile_names_the_field(tmp_path, mutate, field):
    raw = _raw()
    mutate(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match=field):
        load_profile(str(path))
