"""HTTP and pages: a Flask app factory, one blueprint per audience, no domain rules."""
