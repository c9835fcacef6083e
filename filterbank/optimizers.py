"""Placeholder: replaced by its owner branch."""
