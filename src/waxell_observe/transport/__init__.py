"""Talking to a control plane: the wire format of runs and records, and transport errors.

``wire`` turns runs and records into the JSON bodies of the control-plane protocol
(``docs/wire-protocol.md``); ``errors`` classifies what can go wrong on
the way (final refusals, retryable failures, ``Retry-After``). The HTTP client itself is
:class:`waxell_observe.WaxellObserveClient`.
"""
