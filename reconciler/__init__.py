"""callrecon reconciler: fetches what vendor pushes missed and hands it to the receiver's landing code."""
