"""LLMOps Factory domain logic: plain Python with no Airflow import, unit-tested without Airflow."""
