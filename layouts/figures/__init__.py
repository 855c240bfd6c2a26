"""Figure builders: functions of results that tests call without a browser (no Dash)."""
