"""Landing: the one path from a stored raw callback to typed rows, for pushes, replays and fetches.

The raw inbox (store first), group commit, masking, decoding, field mapping, replay and
retention. Vendor modules (`receiver.vendors`) plug their parsers into it. It never imports
`receiver.web` or the reconciler.
"""
