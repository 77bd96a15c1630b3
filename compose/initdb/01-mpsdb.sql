-- The MPS keeps its devices in their own database, as in the reference stack (POSTGRES_DB makes rpsdb).
-- MPS and RPS create their tables themselves on first start.
CREATE DATABASE mpsdb;
