"""What the suites share: fixtures, servers on loopback, fakes of the outside world."""
