ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
CREATE FUNCTION widget_touch() RETURNS trigger AS $$
BEGIN
    NEW.size := NEW.size;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
