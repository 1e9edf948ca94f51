//! Collage layout maths: where each tile and label goes on the canvas.

/// A rectangle in canvas pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CollageLayout {
    pub width: u32,
    pub height: u32,
    pub columns: u32,
    pub rows: u32,
    /// One square cell per image, row-major; the thumbnail is fitted (contain) into it.
    pub cells: Vec<Rect>,
    /// The label strip at the bottom of each cell.
    pub label_height: f64,
}

/// Smallest and largest grid side the UI offers (3x3 .. 10x10).
pub const MIN_GRID: u32 = 3;
pub const MAX_GRID: u32 = 10;

/// A `grid x grid` collage of `count` images (at most grid^2), `cell` px squares, `gap` px apart.
pub fn layout(count: usize, grid: u32, cell: u32, gap: u32) -> CollageLayout {
    let grid = grid.clamp(MIN_GRID, MAX_GRID);
    let count = count.min((grid * grid) as usize) as u32;
    let columns = grid;
    let rows = count.div_ceil(columns).max(1);
    let cell = cell.max(16);
    let width = columns * cell + (columns + 1) * gap;
    let height = rows * cell + (rows + 1) * gap;
    let cells = (0..count)
        .map(|i| Rect {
            x: (gap + (i % columns) * (cell + gap)) as f64,
            y: (gap + (i / columns) * (cell + gap)) as f64,
            w: cell as f64,
            h: cell as f64,
        })
        .collect();
    CollageLayout { width, height, columns, rows, cells, label_height: (cell as f64 * 0.16).clamp(14.0, 28.0) }
}

/// Fits an image of `w x h` inside `cell`, centered, keeping its aspect ratio.
pub fn fit_contain(cell: Rect, w: f64, h: f64) -> Rect {
    if !(w > 0.0 && h > 0.0) {
        return cell;
    }
    let scale = (cell.w / w).min(cell.h / h);
    let (fw, fh) = (w * scale, h * scale);
    Rect { x: cell.x + (cell.w - fw) / 2.0, y: cell.y + (cell.h - fh) / 2.0, w: fw, h: fh }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sizes() {
        let l = layout(9, 3, 100, 4);
        assert_eq!((l.width, l.height, l.cells.len()), (3 * 100 + 4 * 4, 316, 9));
        let partial = layout(5, 3, 100, 0);
        assert_eq!((partial.rows, partial.cells.len()), (2, 5));
        let clamped = layout(500, 50, 10, 0);
        assert_eq!((clamped.columns, clamped.cells.len()), (10, 100));
        assert_eq!(layout(0, 3, 100, 0).cells.len(), 0);
    }

    #[test]
    fn contain_keeps_aspect() {
        let r = fit_contain(Rect { x: 0.0, y: 0.0, w: 100.0, h: 100.0 }, 200.0, 100.0);
        assert_eq!(r, Rect { x: 0.0, y: 25.0, w: 100.0, h: 50.0 });
    }
}
