"""Reconciler sources by name; `--source all` runs each in this order."""

from .leadsquared import LeadSquaredSource

SOURCES = {
    LeadSquaredSource.name: LeadSquaredSource,
}
