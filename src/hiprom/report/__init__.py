"""What leaves the screen for a person: the HTML report, its figures, the per-person history."""
