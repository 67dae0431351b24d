"""feedgen: pre-rendered iCalendar feeds of CRM activities, published to object storage."""

__version__ = "0.1.0"
