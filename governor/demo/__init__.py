"""`fusegov demo`: the whole loop on the built-in virtual phone, as a newcomer's first command.

Five steps, each one the components' own code (nothing here fits, searches or plots by itself):
1. `steps.collect`: traces of LLM (prefill, decode) and CNN workloads at a sweep of GPU clocks, through the
   collectors' on-device sampler on the in-process phone (collectors.sweep.collect_sweep);
2. `steps.fit`: `fusegov fit` on that trace (powermodel.cli.run_fit), held-out workloads against the
   utilisation-frequency baseline;
3. `steps.plan`: the stock governors, FUSE and fusegov searches for one LLM (governor.planner.run_search);
4. `steps.replay`: ShareGPT requests replayed under each plan (governor.evaluate.replay_policy);
5. `steps.timeline`: one request's clocks and power under stock and under fusegov (sim.timeline).
`report` writes what they measured as Markdown beside the plots; `cli` is the command.
"""
