"""Drop-in replacements for other libraries' APIs, on entra-auth."""
