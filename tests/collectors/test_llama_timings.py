"""llama.cpp's timing summary, both generations, real and odd text: parsed, never a traceback."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.runners.timings import parse_ort_perf, parse_timings

B2202 = """
llama_print_timings:        load time =    1123.45 ms
llama_print_timings:      sample time =      12.30 ms /    64 runs   (    0.19 ms per token,  5203.25 tokens per second)
llama_print_timings: prompt eval time =    2345.67 ms /   128 tokens (   18.33 ms per token,    54.57 tokens per second)
llama_print_timings:        eval time =    8123.45 ms /    63 runs   (  128.94 ms per token,     7.76 tokens per second)
llama_print_timings:       total time =   11700.12 ms
"""

NEW = """0.00.060.463 I llama_perf_sampler_print:    sampling time =       9.81 ms /    33 runs   (    0.30 ms per token,  3363.91 tokens per second)
0.00.060.463 I llama_perf_context_print:        load time =     603.21 ms
0.00.060.463 I llama_perf_context_print: prompt eval time =     412.00 ms /    17 tokens (   24.24 ms per token,    41.26 tokens per second)
0.00.060.463 I llama_perf_context_print:        eval time =    4100.00 ms /    32 runs   (  128.13 ms per token,     7.80 tokens per second)
0.00.060.463 I llama_perf_context_print:       total time =    5130.33 ms /    49 tokens
"""


def test_old_generation():
    t = parse_timings("noise before\n" + B2202 + "\nmain: exiting\n")
    assert t.load_ms == 1123.45 and t.prompt_tokens == 128 and t.eval_runs == 63 and t.total_ms == 11700.12
    assert math.isclose(t.ttft_s, 2.34567 + 0.0123 / 64)
    assert math.isclose(t.tpot_s, 8.12345 / 63 + 0.0123 / 64)


def test_new_generation_with_log_prefixes():
    t = parse_timings(NEW)
    assert t.sample_runs == 33 and t.prompt_ms == 412.0 and t.eval_runs == 32 and t.total_ms == 5130.33


def test_without_the_tokens_per_second_part():
    text = "llama_print_timings: prompt eval time =     100.00 ms /    10 tokens\nllama_print_timings:        eval time =      50.00 ms /     5 runs\n"
    t = parse_timings(text)
    assert t.ttft_s == 0.1 and math.isclose(t.tpot_s, 0.01)


def test_inf_values_and_zero_runs():
    text = "llama_perf_context_print:        eval time =       0.00 ms /     0 runs   (     inf ms per token,     inf tokens per second)\n"
    t = parse_timings(text)
    assert t.eval_ms == 0.0 and t.tpot_s is None
    t = parse_timings("llama_print_timings: prompt eval time =  inf ms /  1 tokens")
    assert t.ttft_s is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_an_answer_not_a_traceback(text):
    t = parse_timings(text)
    assert t.ttft_s is None or isinstance(t.ttft_s, float)
    parse_ort_perf(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(B2202.splitlines() + NEW.splitlines() + ["", "garbage = 1 ms / x runs", "inf"])))
def test_shuffled_real_lines(lines):
    parse_timings("\n".join(lines))
