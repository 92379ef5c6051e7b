-- Each service owns its tables, in a database of its own: `media` is made by
-- the image (POSTGRES_DB), `post` here, on the first start of an empty volume.
CREATE DATABASE post;
