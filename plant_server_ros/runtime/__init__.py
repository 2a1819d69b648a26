"""The plant and what runs it: schedules, ticker, status, log lines."""
