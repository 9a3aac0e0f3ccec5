"""Forms of the staff workspace pages; they check shapes, the services check the rules."""
