-- A unit's own wording of a reminder or a summons, per language (issue 23).
-- No row: the default text (locales/*/main.ftl). Keep in step with
-- ../postgres/0012_unit_templates.sql.

-- `key`: reminder | reminder-reply | summons; `lang`: sv | en; `body`: the
-- template with placeholders ({namn}, {tid}, ...), checked by
-- domain::template::TemplateText before it is stored.
CREATE TABLE unit_templates (
    unit_id    BIGINT  NOT NULL REFERENCES units(id),
    key        TEXT    NOT NULL,
    lang       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    updated_by TEXT    NOT NULL,
    PRIMARY KEY (unit_id, key, lang)
);
