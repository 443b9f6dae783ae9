"""WhatsApp adapter package; the only place twilio is imported."""
