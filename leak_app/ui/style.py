"""The dashboard's look: its title, accent colour and style sheet, shared by the page, the views
and the exported files."""

TITLE = "Silent Leak Detector"
ACCENT = "#3b6ea8"

CSS = """
.kpis {display: flex; gap: 12px; flex-wrap: wrap;}
.kpi {flex: 1 1 160px; background: #f5f8fc; border-left: 4px solid #3b6ea8; padding: 8px 12px;
      border-radius: 4px;}
.kpi-label {font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .04em;}
.kpi-value {font-size: 26px; font-weight: 600; color: #1d2b3a;}
.kpi-note {font-size: 12px; color: #666;}
.takeaways li, .leaks li {margin-bottom: 6px; line-height: 1.4;}
h4 {margin: 6px 0;}
.leaks ul.children {margin-top: 4px; padding-left: 18px; list-style: circle;}
.warning {background: #fff6e0; border-left: 4px solid #d9a400; padding: 4px 8px; margin: 4px 0;
          font-size: 13px;}
.note {font-size: 12px; color: #666;}
.waterfall {width: 100%; border-collapse: collapse; font-size: 12px;}
.waterfall td {padding: 1px 4px;}
.wf-label {white-space: nowrap; max-width: 200px; overflow: hidden; text-overflow: ellipsis;}
.wf-track {position: relative; width: 60%; height: 14px;}
.wf-bar {position: absolute; top: 2px; bottom: 2px; border-radius: 2px;}
.wf-value {white-space: nowrap; text-align: right; color: #333;}
.load-report table {border-collapse: collapse; font-size: 13px;}
.load-report td {padding: 2px 10px 2px 0; border-bottom: 1px solid #eee;}
.title-bar {background: #3b6ea8; color: white; font-size: 22px; font-weight: 600; padding: 12px 18px;}
"""

#: A row whose items go one below the other where the page is too narrow for them side by side (a
#: laptop's 1280 px beside the sidebar), rather than running off its edge or squeezing one.
WRAP = ":host { flex-wrap: wrap; }"
#: The narrowest a half-width card gets before it goes below the other (the sources × device heatmap's
#: two lines of text a cell need about 90 px a device). Set in CSS: a Bokeh row sums its items'
#: ``min_width`` into its own, and then ran past the page beside the sidebar rather than wrapping.
HALF = ":host { min-width: min(520px, calc(100% - 10px)); }"
#: The narrowest the Leaks card's two halves (silent leaks, leaks: each its chart over its list) get
#: before the second goes below the first.
LEAKS_HALF = ":host { min-width: min(440px, 100%); }"
#: A phone's screen: under Bootstrap's 768 px (its ``md`` breakpoint, where the template's sidebar
#: folds).
PHONE = "@media (max-width: 767.98px)"
#: Width of the fade at a card's right edge while more of its plot lies beyond it (see SIDEWAYS).
FADE = "32px"
#: A view's card on a phone: a figure wider than the screen (see :func:`phone_min_width`) scrolls
#: sideways inside it, and while more of it lies to the right its right edge fades out, the cue that
#: it goes on (a cut-off plot alone did not say so). The fade is the card's own scroll position
#: animating its mask (a scroll-driven animation): where the card does not scroll (the plot fits) its
#: timeline is inactive and the mask stays pushed past the edge; a browser without such animations
#: runs it as one of no duration, filled to its end: no fade either. Wider screens keep the card's
#: overflow visible: a hover's tooltip may reach past a plot's edge.
SIDEWAYS = f"""{PHONE} {{
  :host {{
    overflow-x: auto;
    mask-image: linear-gradient(to left, transparent, #000 {FADE});
    mask-repeat: no-repeat;
    mask-size: calc(100% + {FADE}) 100%;
    scroll-timeline: --sideways x;
    animation: more-to-the-right linear both;
    animation-timeline: --sideways;
  }}
  /* Panel's card header is as wide as the card and half an em more to the right: the card scrolled
     by that much where its plot fits, and faded its edge; it stays put while the plot scrolls (it
     went off the screen with it, leaving a plot without its title) */
  .card-header {{ margin-right: 0; position: sticky; left: 0; }}
}}
@keyframes more-to-the-right {{
  from {{ mask-size: 100% 100%; }}
  to {{ mask-size: calc(100% + {FADE}) 100%; }}
}}
"""


def phone_min_width(pixels: int) -> str:
    """A figure's style sheet: on a phone, at least ``pixels`` wide, where its labels fit (a 390 px
    screen's funnel wrote its bars' numbers over each other, its map was narrower than its colour
    bar). CSS, not Bokeh's ``min_width``: Bokeh passes that up to every layout holding the figure,
    and the text beside a chart then ran off the screen with it."""
    return f"{PHONE} {{ :host {{ min-width: {pixels}px; }} }}"


#: What a message says of a failure may quote one word of any length (a file's path, a cut line of
#: ids): wrapped within its box, where the upload's ran past the box's edge, cut off. (Notices wrap
#: theirs already.)
WORDS_WRAPPED = {"overflow-wrap": "anywhere"}


#: The served page on a phone (under Bootstrap's 768 px): the sidebar above the views, both as wide as
#: the screen, and the page scrolling as a whole (beside its 330 px sidebar, the views of a 390 px
#: screen were 60 px wide). Its menu button still folds the sidebar away.
NARROW = PHONE + """ {
  #content.overflow-hidden { overflow-y: auto !important; }
  #sidebar { width: 100% !important; max-width: 100% !important; height: auto; border-right: none; }
  #main.mh-100 { flex: 0 0 100%; max-height: none !important; overflow: visible; }
}
"""
