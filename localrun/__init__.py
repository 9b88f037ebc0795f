"""The product on local stand-ins: simulator + Azurite + in-process bus. Never deployed."""
