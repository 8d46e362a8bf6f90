"""Accounts v2 (``/v2/core/accounts``, ``/v2/core/account_links``): JSON in, JSON out."""
