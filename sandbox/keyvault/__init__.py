"""Azure Key Vault secrets stand-in."""
