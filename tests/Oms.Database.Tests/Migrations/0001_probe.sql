CREATE TABLE migration_probe (id int PRIMARY KEY);
INSERT INTO migration_probe VALUES (1);
