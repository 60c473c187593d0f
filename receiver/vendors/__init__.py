"""One module per vendor: how its records are parsed, mapped and landed (`pushes` lists who pushes).

Vendor modules use `receiver.landing` and never import `receiver.web` or the reconciler.
"""
