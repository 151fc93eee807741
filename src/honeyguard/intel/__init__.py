"""Threat intelligence: indicators from sightings, scoring with decay, lifecycle; flow analytics."""
