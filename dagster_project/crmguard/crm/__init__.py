"""The CRM side of crmguard: the local CRM service (HubSpot v3 subset), its store, and CRM adapters."""
