"""Observability served by the supervisor: the Prometheus endpoint, alert
rules, the dashboard page and the `cachecyt top` view.

  collect.py   read the node's counters from the segment (no worker involved, no lock)
  promtext.py  write and parse the Prometheus text exposition format
  alerts.py    alert rules: expressions, thresholds, durations, events, webhook
  http.py      the HTTP server on `metrics-port` (a thread of the supervisor)
  top.py       the live terminal view

Nothing here runs on a worker's hot path; workers only read the active alerts
(ALERTS command) from the file the supervisor writes."""
