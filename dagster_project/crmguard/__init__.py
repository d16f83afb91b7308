"""crmguard: a governance warehouse for autonomous CRM agents."""

__version__ = "0.1.0"
