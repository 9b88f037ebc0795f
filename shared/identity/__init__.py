"""Identity: Entra ID tokens verified (tokens.py) and operators signed in (operator.py)."""
