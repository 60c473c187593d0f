"""The reconciler's core, shared by every vendor source: the run loop (claim, budget, call, land),
the shared rate budget, outbound HTTP, the clock, the failure policy and the stops.

It knows no vendor; vendor sources live in `reconciler.sources`.
"""
