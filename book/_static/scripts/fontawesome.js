/* Deliberately (almost) empty: this file replaces the theme's 1.5 MB Font Awesome script.
 * pydata-sphinx-theme loads _static/scripts/fontawesome.js on every page only to swap its icon
 * tags for inline SVG; its stylesheet already draws the same icons from Font Awesome's webfonts,
 * which a browser fetches only for the icon styles a page uses. The book's html_static_path is
 * copied after the theme's static files, so this file takes the theme's file's place.
 * (book/_ext/book_assets.py; tests/test_site.py checks that every icon is drawn.) */
