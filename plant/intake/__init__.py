"""Intake: submissions, pre-flight and the consent registry."""
