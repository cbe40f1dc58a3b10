"""The virtual phone's shell language, in-process: what scripts and users send to a rooted phone's sh."""

from __future__ import annotations

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.shell import run_shell
from android.emulator.shell.runtime import runtime_of
from android.emulator.vfs import ROOT_UID, SHELL_UID

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"


@pytest.fixture(scope="module")
def phone() -> VirtualPhone:
    return VirtualPhone("pixel7")


def sh(phone: VirtualPhone, command: str, uid: int = SHELL_UID):
    return run_shell(phone, command, uid=uid, timeout_s=30)


def test_sequences_and_or_lists_and_exit_status(phone):
    assert sh(phone, "true && echo a || echo b; false && echo c || echo d").stdout == "a\nd\n"
    assert sh(phone, "false; echo $?; (exit 7); echo $?").stdout == "1\n7\n"
    assert sh(phone, "exit 3").exit_code == 3
    assert sh(phone, "! false").exit_code == 0


def test_quoting_variables_and_command_substitution(phone):
    out = sh(phone, """x='a  b'; y="$x"; echo "$y|" $x '$x' "\\$x" ${x%% *} ${#x} ${unset:-dflt}""").stdout
    assert out == "a  b| a b $x $x a 4 dflt\n"
    assert sh(phone, 'echo "$(echo "inner quotes")" `echo back`').stdout == "inner quotes back\n"
    assert sh(phone, "echo $((3 * (4 + 1) - 10 / 3)) $((7 % 3)) $((1 << 4))").stdout == "12 1 16\n"


def test_loops_conditionals_functions_and_globs(phone):
    script = """
    n=0
    for f in /sys/devices/system/cpu/cpufreq/policy*/scaling_max_freq; do n=$((n + 1)); done
    i=3; while [ $i -gt 0 ]; do i=$((i - 1)); done
    if [ -d /sys/class/devfreq ] && test -f /proc/uptime; then kind=yes; elif true; then kind=no; fi
    greet() { echo "hello $1 ($#)"; return 4; }
    greet world x; echo "rc=$? n=$n i=$i kind=$kind"
    """
    assert sh(phone, script).stdout == "hello world (2)\nrc=4 n=3 i=0 kind=yes\n"


def test_pipes_and_text_tools(phone):
    result = sh(phone, f"cat {POLICY6}/scaling_available_frequencies | tr ' ' '\\n' | grep -c 00")
    assert result.stdout.strip() == "18"
    assert sh(phone, "printf 'a\\nb\\nc\\nd\\n' | head -n 3 | tail -n 2 | wc -l").stdout.strip() == "2"
    assert sh(phone, "printf 'x=1\\ny=2\\n' | grep -v '^x' | cut -d= -f2").stdout == "2\n"
    assert sh(phone, "echo ab | grep -q zz; echo $?").stdout == "1\n"


def test_redirections_through_the_virtual_files(phone):
    out = sh(
        phone,
        "echo one > /data/local/tmp/r.txt; echo two >> /data/local/tmp/r.txt; "
        "cat < /data/local/tmp/r.txt; cat /nope 2> /data/local/tmp/err.txt; cat /data/local/tmp/err.txt",
    )
    assert out.stdout == "one\ntwo\ncat: /nope: No such file or directory\n"
    assert (
        sh(phone, "echo hidden 2>&1 >/dev/null; ls /nope 2>&1 | head -1").stdout
        == "ls: /nope: No such file or directory\n"
    )


def test_root_only_through_su_with_kernel_write_semantics(phone):
    denied = sh(phone, f"echo 1500000 > {POLICY6}/scaling_max_freq")
    assert denied.exit_code == 1
    assert denied.stderr == f"/system/bin/sh: can't create {POLICY6}/scaling_max_freq: Permission denied\n"
    assert sh(phone, "id").stdout.startswith("uid=2000(shell) gid=2000(shell) ")
    assert sh(phone, "su -c id").stdout.startswith("uid=0(root) gid=0(root)")
    clamped = sh(phone, f"su -c 'echo 1500000 > {POLICY6}/scaling_max_freq'; cat {POLICY6}/scaling_max_freq")
    assert clamped.stdout == "1426000\n"  # the kernel snaps a max request down to a table frequency
    invalid = sh(phone, f"su -c 'echo fast > {POLICY6}/scaling_max_freq'; echo $?; cat {POLICY6}/scaling_max_freq")
    assert invalid.stdout == "1\n1426000\n"
    assert "write error: Invalid argument" in invalid.stderr
    assert (
        sh(phone, f"su 0 sh -c 'echo 2850000 > {POLICY6}/scaling_max_freq'; cat {POLICY6}/scaling_max_freq").stdout
        == "2850000\n"
    )


def test_unknown_commands_and_syntax_errors_answer_like_android(phone):
    result = sh(phone, "frobnicate --now")
    assert (result.exit_code, result.stderr) == (127, "/system/bin/sh: frobnicate: inaccessible or not found\n")
    result = sh(phone, "echo )")
    assert result.exit_code != 0 and "syntax error" in result.stderr


def test_properties(phone):
    assert sh(phone, "getprop ro.product.model").stdout == "Pixel 7\n"
    assert "[ro.board.platform]: [gs201]" in sh(phone, "getprop").stdout
    assert sh(phone, "setprop debug.fusegov 1; getprop debug.fusegov").stdout == "1\n"
    refused = sh(phone, "setprop persist.sys.x 1")
    assert refused.exit_code == 1 and "Failed to set property" in refused.stderr
    assert sh(phone, "su -c 'setprop persist.sys.x 1'; getprop persist.sys.x").stdout == "1\n"
    assert sh(phone, "su -c 'setprop ro.product.model Other'").exit_code == 1


def test_sleep_moves_the_virtual_clock_in_process():
    phone = VirtualPhone("sm8550")
    before = phone.now_s
    assert sh(phone, "sleep 2.5").exit_code == 0
    assert phone.now_s == pytest.approx(before + 2.5, abs=1e-9)
    uptime = float(sh(phone, "cat /proc/uptime").stdout.split()[0])
    assert uptime == pytest.approx(phone.state.uptime_s, abs=0.01)


def test_background_jobs_ps_and_kill():
    phone = VirtualPhone("pixel4")
    started = sh(phone, "while true; do sleep 1; done & echo $!")
    pid = int(started.stdout)
    listing = sh(phone, f"ps -A -o PID,USER,NAME | grep {pid}").stdout.split()
    assert listing == [str(pid), "shell", "sh"]
    assert sh(phone, f"kill -0 {pid}; echo $?").stdout == "0\n"
    root_job = int(sh(phone, "su -c 'sleep 100 & echo $!'").stdout)
    refused = sh(phone, f"kill {root_job}")
    assert refused.stderr == f"/system/bin/sh: kill: {root_job}: Operation not permitted\n"
    job = runtime_of(phone).procs.get(pid)
    assert sh(phone, f"kill {pid}; su -c 'kill -9 {root_job}'").exit_code == 0
    assert job.done.wait(10) and job.exit_code == 143
    assert sh(phone, f"kill {pid}").stderr == f"/system/bin/sh: kill: {pid}: No such process\n"


def test_wait_reports_a_job_that_ended_before_it_was_waited_for():
    """`wait PID` after the job is gone still gives its status (no race between the job and the waiter)."""
    phone = VirtualPhone("pixel4")
    script = "sleep 100 & p=$!; kill $p; while kill -0 $p 2>/dev/null; do :; done; wait $p; echo $?; wait; echo $?"
    assert sh(phone, script).stdout == "143\n0\n"


def test_timeout_stops_a_runaway_command():
    phone = VirtualPhone("pixel7")
    from android.errors import DeviceError

    with pytest.raises(DeviceError, match="timed out after 0.3 s"):
        run_shell(phone, "while true; do :; done", uid=ROOT_UID, timeout_s=0.3)


def test_pushed_shell_script_runs_with_shebang_and_mode(phone):
    phone.fs.write("/data/local/tmp/s.sh", b'#!/system/bin/sh\necho "args: $*"\nexit 5\n', SHELL_UID)
    assert sh(phone, "/data/local/tmp/s.sh a b").stderr.endswith("Permission denied\n")
    result = sh(phone, "chmod 755 /data/local/tmp/s.sh && /data/local/tmp/s.sh a b")
    assert (result.exit_code, result.stdout) == (5, "args: a b\n")
    assert sh(phone, "sh /data/local/tmp/s.sh c; echo $?").stdout == "args: c\n5\n"


def test_file_commands(phone):
    script = (
        "mkdir -p /data/local/tmp/d/e && echo x > /data/local/tmp/d/e/f && mv /data/local/tmp/d/e/f "
        "/data/local/tmp/d/g && ls /data/local/tmp/d && rm -r /data/local/tmp/d && ls /data/local/tmp/d"
    )
    result = sh(phone, script)
    assert result.stdout == "e\ng\n"
    assert result.stderr == "ls: /data/local/tmp/d: No such file or directory\n"
    assert sh(phone, "mkdir /sys/x").stderr == "mkdir: /sys/x: Permission denied\n"
    long_listing = sh(phone, f"ls -l {POLICY6}/scaling_max_freq").stdout
    assert long_listing.startswith("-rw-r--r-- 1 root root  4096 ")


def test_set_e_set_x_and_traps(phone):
    errexit = sh(phone, "set -e; false || echo tolerated; if false; then :; fi; ! true; echo before; false; echo after")
    assert (errexit.exit_code, errexit.stdout) == (1, "tolerated\nbefore\n")
    assert sh(phone, "set -x; echo traced").stderr == "+ echo traced\n"
    trapped = sh(phone, "trap 'echo cleanup $?' EXIT; echo work; exit 4")
    assert (trapped.exit_code, trapped.stdout) == (4, "work\ncleanup 4\n")


def test_a_killed_job_runs_its_signal_trap():
    phone = VirtualPhone("pixel7")
    phone.fs.write(
        "/data/local/tmp/job.sh",
        b"(trap 'echo trapped > /data/local/tmp/t' TERM; while :; do sleep 1; done) &\necho $!\n",
        SHELL_UID,
    )
    pid = int(sh(phone, "sh /data/local/tmp/job.sh").stdout)
    proc = runtime_of(phone).procs.get(pid)
    assert sh(phone, f"kill {pid}").exit_code == 0
    assert proc.done.wait(10)
    assert (proc.exit_code, sh(phone, "cat /data/local/tmp/t").stdout) == (143, "trapped\n")
