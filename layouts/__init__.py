"""Dashboard components, one module per panel; no callbacks here."""
