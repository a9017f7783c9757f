"""What every request passes through before its route: connection limits, the gate
(authentication, rate limits, body cap), measurement, the error boundary."""
