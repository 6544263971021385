-- The postgres image creates the Prefect database (POSTGRES_DB); MLflow gets its own.
CREATE DATABASE mlflow OWNER embedforge;
