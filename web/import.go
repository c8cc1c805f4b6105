package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/ringdesk/ringdesk"
)

// The admins' CSV import page: the CLI's importer (ringdesk import) behind
// a file upload, with its per-line report. Files over 20 MB belong to the CLI.

// maxImportUpload bounds the file the import page takes; importTimeout
// is how long its import may take.
const (
	maxImportUpload = 20 << 20
	importTimeout   = 10 * time.Minute
)

// importPage is the data of import.html.
type importPage struct {
	File   string
	Report *ringdesk.ImportReport
	Error  string
}

// handleImportPage shows the upload form.
func (s *Server) handleImportPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "import", Titled{Title: "Import customers", Data: importPage{}})
}

// handleImport imports the uploaded CSV file and shows the report: rows
// created, unchanged and failed, and each failed row's line and reason. A
// file the importer cannot use at all shows why, with nothing imported.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxImportUpload+1<<20)
	page := importPage{}
	status := http.StatusOK
	f, fh, err := r.FormFile("file")
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &big):
		status, page.Error = http.StatusRequestEntityTooLarge, "The file is larger than 20 MB: import it with the ringdesk import command."
	case err != nil:
		status, page.Error = http.StatusBadRequest, "Choose a CSV file to import."
	case fh.Size > maxImportUpload:
		f.Close()
		status, page.Error = http.StatusRequestEntityTooLarge, "The file is larger than 20 MB: import it with the ringdesk import command."
	default:
		defer f.Close()
		page.File = fh.Filename
		// A file near the limit may take longer than the server's write
		// timeout to import: give this response the time it needs.
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(importTimeout)); err != nil {
			s.logger.Warn("import: cannot extend the write deadline", "error", err)
		}
		rep, err := s.Customers.ImportCustomers(r.Context(), f, ringdesk.ImportOptions{})
		page.Report = rep
		if err != nil {
			code := ringdesk.ErrorCode(err)
			if code == ringdesk.EINTERNAL || code == ringdesk.EUNAVAILABLE {
				s.logger.Error("import failed", "file", fh.Filename, "error", err)
			}
			status, page.Error = errorStatus(code), ringdesk.ErrorMessage(err)
			if code == ringdesk.EINVALID {
				page.Report = nil // nothing was read: no report to show
			}
		} else {
			s.logger.Info("customers imported", "file", fh.Filename, "user", SessionFrom(r.Context()).User.Username,
				"rows", rep.Rows, "created", rep.Created, "unchanged", rep.Unchanged, "failed", rep.Failed)
		}
	}
	s.renderStatus(w, r, status, "import", Titled{Title: "Import customers", Data: page})
}
