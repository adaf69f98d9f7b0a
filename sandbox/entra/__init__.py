"""Microsoft Entra ID stand-in."""
