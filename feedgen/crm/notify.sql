-- Wakes feedgen's workers (worker.listen = true) when the CRM tables they read change.
-- Run it once in the CRM database, as a role that owns these tables; running it again is harmless.
-- PostgreSQL 11 or later. Where the CRM contract's tables are views, put the triggers on the
-- tables behind them.
--
-- One NOTIFY per statement, delivered at commit: a transaction that saves a hundred rows wakes
-- the workers once, and a rolled-back one not at all. The notification carries nothing; the
-- worker's cycle finds what changed as it always does.

CREATE OR REPLACE FUNCTION feedgen_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('feedgen', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS users_feedgen ON users;
CREATE TRIGGER users_feedgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION feedgen_notify();

DROP TRIGGER IF EXISTS teams_feedgen ON teams;
CREATE TRIGGER teams_feedgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION feedgen_notify();

DROP TRIGGER IF EXISTS team_members_feedgen ON team_members;
CREATE TRIGGER team_members_feedgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON team_members
    FOR EACH STATEMENT EXECUTE FUNCTION feedgen_notify();

DROP TRIGGER IF EXISTS activities_feedgen ON activities;
CREATE TRIGGER activities_feedgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON activities
    FOR EACH STATEMENT EXECUTE FUNCTION feedgen_notify();

DROP TRIGGER IF EXISTS participants_feedgen ON participants;
CREATE TRIGGER participants_feedgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON participants
    FOR EACH STATEMENT EXECUTE FUNCTION feedgen_notify();
