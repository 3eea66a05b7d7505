-- A separate database and role for the evidence store (append-only tables, created by the store).
CREATE ROLE evidence LOGIN PASSWORD 'evidence';
CREATE DATABASE evidence OWNER evidence;
