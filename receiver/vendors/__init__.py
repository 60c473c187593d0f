"""One module per vendor: how its records are parsed, mapped and landed (`registry` declares each vendor once).

Vendor modules use `receiver.landing` and never import `receiver.web` or the reconciler.
"""
