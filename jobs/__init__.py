"""The worker's schedule (APScheduler), kept out of the library's imports."""
